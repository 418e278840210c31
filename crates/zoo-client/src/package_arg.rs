//! What the PKG argument of `zoo run` and `zoo export` names. An argument is
//! a folder only when it looks like a path (`.`, `..`, starting with `./`,
//! `../`, `/` or `~`, or containing a path separator); anything else names
//! an installed package (NAME or NAME@REQ), so a folder that happens to
//! share the name in the current directory never shadows the installed
//! package.

use crate::error::{Error, Result};
use crate::store::{InstalledPackage, Store};
use std::path::{Path, PathBuf};
use zoo_format::manifest::MANIFEST_FILE;

/// The argument, read by its shape only (nothing on disk is consulted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageArg {
    /// A package folder (a leading `~` already replaced by the home folder).
    Folder(PathBuf),
    /// An installed package, NAME or NAME@REQ.
    Installed {
        name: String,
        req: semver::VersionReq,
    },
}

/// Whether `arg` reads as a path rather than a package name.
pub fn looks_like_path(arg: &str) -> bool {
    arg == "."
        || arg == ".."
        || arg.starts_with("./")
        || arg.starts_with("../")
        || arg.starts_with('/')
        || arg.starts_with('~')
        || arg.contains('/')
        || arg.contains(std::path::MAIN_SEPARATOR)
}

/// Reads the argument: a folder when it looks like a path, else a package
/// spec (refused when it is not a valid NAME[@REQ]).
pub fn parse_package_arg(arg: &str) -> Result<PackageArg> {
    if looks_like_path(arg) {
        return Ok(PackageArg::Folder(expand_tilde(arg)));
    }
    let (name, req) = crate::parse_spec(arg).map_err(|e| {
        Error::Invalid(format!(
            "{e} (a package folder is written as a path, e.g. `./{arg}`)"
        ))
    })?;
    Ok(PackageArg::Installed { name, req })
}

/// `~` and `~/…` with the home folder; `~user` is left as written.
fn expand_tilde(arg: &str) -> PathBuf {
    let rest = match arg.strip_prefix('~') {
        Some("") => Some(""),
        Some(rest) => rest.strip_prefix('/'),
        None => None,
    };
    match (rest, dirs::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(arg),
    }
}

/// A package argument resolved to a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPackage {
    pub dir: PathBuf,
    /// The installed package, when the argument named one.
    pub installed: Option<InstalledPackage>,
}

impl ResolvedPackage {
    /// What was chosen, for `-v`: the folder, or `name@version at DIR`.
    pub fn describe(&self) -> String {
        match &self.installed {
            Some(p) => format!("{}@{} at {}", p.name, p.version, p.dir.display()),
            None => format!("the folder {}", self.dir.display()),
        }
    }
}

/// Resolves `arg` against the store at `home`, relative folders against
/// `cwd` (the process's own, for callers; returned as written): a folder must hold a zoo.toml; an installed package must exist
/// and be intact (not marked broken by `zoo cache verify`).
pub fn resolve_package_arg(home: &Path, cwd: &Path, arg: &str) -> Result<ResolvedPackage> {
    match parse_package_arg(arg)? {
        PackageArg::Folder(dir) => {
            let full = cwd.join(&dir);
            if full.join(MANIFEST_FILE).is_file() {
                Ok(ResolvedPackage {
                    dir,
                    installed: None,
                })
            } else if full.is_dir() {
                Err(Error::Invalid(format!(
                    "{arg}: the folder has no {MANIFEST_FILE}, so it is not a package"
                )))
            } else {
                Err(Error::Invalid(format!(
                    "{arg}: no such package folder (a name without `/` is an installed package)"
                )))
            }
        }
        PackageArg::Installed { name, req } => {
            let store = Store::open(home)?;
            let package = store.find_installed(&name, &req).map_err(|e| match e {
                Error::NotInstalled(message) if cwd.join(arg).join(MANIFEST_FILE).is_file() => {
                    Error::NotInstalled(format!(
                        "{message} (to use the folder `{arg}` here, write `./{arg}`)"
                    ))
                }
                other => other,
            })?;
            store.check_intact(&package.name, &package.version)?;
            Ok(ResolvedPackage {
                dir: package.dir.clone(),
                installed: Some(package),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fake;

    #[test]
    fn only_path_shaped_arguments_are_folders() {
        for path in [
            ".",
            "..",
            "./vgg-mini",
            "../vgg-mini",
            "/abs/vgg",
            "~/vgg",
            "models/vgg-mini",
            "a/b/",
        ] {
            assert!(looks_like_path(path), "{path}");
        }
        for name in [
            "vgg-mini",
            "vgg-mini@^0.1",
            "cell_counter@=1.0.0",
            ".hidden",
        ] {
            assert!(!looks_like_path(name), "{name}");
        }
        assert_eq!(
            parse_package_arg("vgg-mini@0.1").unwrap(),
            PackageArg::Installed {
                name: "vgg-mini".into(),
                req: "0.1".parse().unwrap()
            }
        );
        assert_eq!(
            parse_package_arg("models/vgg").unwrap(),
            PackageArg::Folder("models/vgg".into())
        );
        let home = dirs::home_dir().unwrap();
        assert_eq!(
            parse_package_arg("~/m").unwrap(),
            PackageArg::Folder(home.join("m"))
        );
        let bad = parse_package_arg("Not A Name").unwrap_err().to_string();
        assert!(bad.contains("./Not A Name"), "{bad}");
    }

    #[test]
    fn the_installed_package_wins_over_a_folder_of_that_name() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let installed = fake::install(&store, "vgg-mini", "0.1.0");
        // A package folder `vgg-mini` (with a zoo.toml) in the current directory.
        let cwd = tempfile::tempdir().unwrap();
        std::fs::create_dir(cwd.path().join("vgg-mini")).unwrap();
        std::fs::write(cwd.path().join("vgg-mini").join(MANIFEST_FILE), "").unwrap();

        let resolved = resolve_package_arg(home.path(), cwd.path(), "vgg-mini").unwrap();
        assert_eq!(resolved.dir, installed);
        assert!(resolved.describe().starts_with("vgg-mini@0.1.0 at "));
        let by_path = resolve_package_arg(home.path(), cwd.path(), "./vgg-mini").unwrap();
        assert_eq!(by_path.installed, None);
        assert_eq!(by_path.dir, Path::new("./vgg-mini"));
        assert!(by_path.describe().starts_with("the folder "));

        store.uninstall("vgg-mini", None).unwrap();
        let missing = resolve_package_arg(home.path(), cwd.path(), "vgg-mini")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("is not installed"), "{missing}");
        assert!(missing.contains("write `./vgg-mini`"), "{missing}");
        let empty = tempfile::tempdir().unwrap();
        let no_folder = resolve_package_arg(home.path(), cwd.path(), "./nothing-here")
            .unwrap_err()
            .to_string();
        assert!(no_folder.contains("no such package folder"), "{no_folder}");
        std::fs::create_dir(cwd.path().join("plain")).unwrap();
        let plain = resolve_package_arg(empty.path(), cwd.path(), "./plain")
            .unwrap_err()
            .to_string();
        assert!(plain.contains("has no zoo.toml"), "{plain}");
    }

    #[test]
    fn a_package_marked_broken_is_refused_with_its_repair() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let dir = fake::install(&store, "timer", "1.2.0");
        let cwd = home.path();
        assert!(resolve_package_arg(home.path(), cwd, "timer").is_ok());
        std::fs::write(
            dir.join(crate::store::BROKEN_MARKER),
            "`w.bin` hashes to 00",
        )
        .unwrap();
        let err = resolve_package_arg(home.path(), cwd, "timer")
            .unwrap_err()
            .to_string();
        assert!(err.contains("timer@1.2.0 is broken"), "{err}");
        assert!(err.contains("`w.bin` hashes to 00"), "{err}");
        assert!(err.contains("zoo install timer@=1.2.0"), "{err}");
    }
}
