//! The real `cargo` for the end-to-end tests of Link crates: a CARGO_HOME of
//! the tests' own (a config naming the registry `zoo`, whose URL each test
//! sets through CARGO_REGISTRIES_ZOO_INDEX; tokens from the environment only)
//! and a temporary target dir, so the user's cargo set-up is never read or
//! written. crates.io stays cargo's default registry: the Link crates'
//! dependencies (tch, …) resolve from it as for any user. The home lives in
//! the target's tmp dir and is shared, so its crates.io index cache is
//! fetched once, not per test.

use crate::Outcome;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// A cargo environment pointed at one zoo registry.
pub struct Cargo {
    pub home: PathBuf,
    pub target: TempDir,
    /// `sparse+http://127.0.0.1:PORT/cargo/index/`.
    pub index: String,
}

impl Cargo {
    /// Cargo for the registry at `registry_url`, with the shared CARGO_HOME
    /// under `tmp` (the test's `CARGO_TARGET_TMPDIR`).
    pub fn new(registry_url: &str, tmp: &Path) -> Cargo {
        let home = tmp.join("links-cargo-home");
        std::fs::create_dir_all(&home).expect("creating the cargo home");
        // Written whole and renamed: tests running at once may do this too.
        let staged = tempfile::NamedTempFile::new_in(&home).expect("a temp file");
        std::fs::write(
            staged.path(),
            "[registries.zoo]\nindex = \"sparse+http://127.0.0.1:1/cargo/index/\"\n\
             credential-provider = \"cargo:token\"\n",
        )
        .expect("writing the cargo config");
        staged
            .persist(home.join("config.toml"))
            .expect("installing the cargo config");
        Cargo {
            home,
            target: tempfile::tempdir().expect("a temp dir"),
            index: format!("sparse+{registry_url}/cargo/index/"),
        }
    }

    /// The environment every cargo (and `zoo publish`'s cargo) runs with.
    pub fn apply(&self, command: &mut Command) {
        command
            .env("CARGO_HOME", &self.home)
            .env("CARGO_TARGET_DIR", self.target.path())
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_REGISTRIES_ZOO_INDEX", &self.index)
            .env_remove("CARGO_REGISTRIES_ZOO_TOKEN")
            .env_remove("CARGO_REGISTRY_TOKEN")
            .env_remove("CARGO_NET_OFFLINE")
            .env_remove("RUSTC_WRAPPER");
    }

    /// `cargo ARGS` in `dir`, with `token` as the `zoo` registry's token.
    pub fn run(&self, dir: &Path, args: &[&str], token: Option<&str>) -> Outcome {
        let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(program);
        command.args(args).current_dir(dir);
        self.apply(&mut command);
        if let Some(token) = token {
            command.env("CARGO_REGISTRIES_ZOO_TOKEN", token);
        }
        crate::run_command(&mut command)
    }
}

/// The workspace root (zoo-nn, zoo-kernels and zoo-torch-build are published from it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Copies the crate or package folder `from` into `to` (which must not
/// exist), leaving out build output and lock files: examples are published
/// from copies so that cargo's lock file and target never land in the repo.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a folder");
    for entry in std::fs::read_dir(from).expect("reading a folder").flatten() {
        let name = entry.file_name();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copying a file");
        }
    }
}

/// The one index line of `name@vers` that the registry at `url` serves.
pub fn index_line(url: &str, name: &str, vers: &str) -> Option<serde_json::Value> {
    let path = zoo_format::cargo_index_path(name);
    let response = reqwest::blocking::get(format!("{url}/cargo/index/{path}")).ok()?;
    if !response.status().is_success() {
        return None;
    }
    let text = response.text().ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["vers"] == vers)
}
