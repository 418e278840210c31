//! A throwaway local registry for the demo and the install benchmark: a real
//! `zoo-registry` on 127.0.0.1 (free port) with its own data dir, one user,
//! and the real `zoo` run with its own ZOO_HOME and config dir. Everything is
//! driven as processes, so xtask stays light.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running registry plus a `zoo` environment that talks to it.
pub struct DemoRegistry {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:43121`.
    pub url: String,
    /// The registry's data dir (database, blobs/, index/).
    pub data: PathBuf,
    /// The demo user's token.
    pub token: String,
    /// ZOO_HOME of the `zoo` commands run through [`DemoRegistry::zoo`].
    pub zoo_home: PathBuf,
    /// HOME / XDG_CONFIG_HOME for those commands (the user's config stays untouched).
    pub user_home: PathBuf,
    bin_dir: PathBuf,
}

impl DemoRegistry {
    /// Starts `bin_dir/zoo-registry` with fresh dirs under `root` (emptied
    /// first) and creates the user `demo`.
    pub fn start(bin_dir: &Path, root: &Path) -> Result<DemoRegistry> {
        if root.exists() {
            std::fs::remove_dir_all(root)
                .with_context(|| format!("emptying {}", root.display()))?;
        }
        let data = root.join("registry-data");
        let zoo_home = root.join("zoo-home");
        let user_home = root.join("user-home");
        for dir in [&data, &zoo_home, &user_home] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let registry = bin_dir.join("zoo-registry");
        let log = std::fs::File::create(root.join("registry.log"))?;
        let mut child = Command::new(&registry)
            .args(["serve", "--init", "--bind", "127.0.0.1:0", "--data"])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", registry.display()))?;
        let url = match read_address(&mut child) {
            Ok(url) => url,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error.context(format!(
                    "zoo-registry did not start; see {}",
                    root.join("registry.log").display()
                )));
            }
        };
        let mut demo = DemoRegistry {
            child,
            url,
            data,
            token: String::new(),
            zoo_home,
            user_home,
            bin_dir: bin_dir.to_path_buf(),
        };
        demo.token = demo.add_user("demo")?;
        eprintln!("registry at {} (data in {})", demo.url, demo.data.display());
        Ok(demo)
    }

    /// `zoo-registry user add LOGIN`: returns the new token.
    pub fn add_user(&self, login: &str) -> Result<String> {
        let out = Command::new(self.bin_dir.join("zoo-registry"))
            .args(["user", "add", login, "--data"])
            .arg(&self.data)
            .output()
            .context("running zoo-registry user add")?;
        if !out.status.success() {
            bail!(
                "zoo-registry user add {login} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The real `zoo` with this registry, token and ZOO_HOME.
    pub fn zoo(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("zoo"));
        cmd.env("ZOO_HOME", &self.zoo_home)
            .env("ZOO_REGISTRY", &self.url)
            .env("ZOO_TOKEN", &self.token)
            .env("HOME", &self.user_home)
            .env("XDG_CONFIG_HOME", self.user_home.join(".config"))
            .env_remove("ZOO_OFFLINE");
        cmd
    }

    /// `zoo publish DIR`.
    pub fn publish(&self, package_dir: &Path) -> Result<()> {
        crate::cmd::run(self.zoo().arg("publish").arg(package_dir))
    }

    /// `zoo install SPEC…` into this ZOO_HOME.
    pub fn install(&self, specs: &[&str]) -> Result<()> {
        crate::cmd::run(self.zoo().arg("install").args(specs))
    }

    /// `zoo list` output.
    pub fn list(&self) -> Result<String> {
        crate::cmd::output(self.zoo().arg("list"))
    }

    /// The blob download URL of a sha256.
    pub fn blob_url(&self, sha256: &str) -> String {
        format!("{}/blobs/{sha256}", self.url)
    }
}

impl Drop for DemoRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `listening on URL` from the server's stdout (30 s at most).
fn read_address(child: &mut Child) -> Result<String> {
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .context("waiting for `listening on …`")
}
