//! Harness for the end-to-end tests: locates the built binaries, starts a
//! real `zoo-registry` on 127.0.0.1, and runs the real `zoo` with its own
//! ZOO_HOME and config dir (the user's config is never touched).

pub mod crash;
pub mod load;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The directory holding the built binaries: the test executable lives in
/// `target/<profile>/deps/`, the binaries one level up.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut dir = exe.parent().expect("a parent dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The path of a built binary, or a panic saying how to build it.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (`cargo xtask test` does)",
        path.display()
    );
    path
}

/// A finished command's outcome.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    fn describe(&self, what: &str) -> String {
        format!(
            "{what}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        )
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert!(self.success, "{}", self.describe("command failed"));
        self.stdout
    }

    /// Asserts failure and returns stderr.
    #[track_caller]
    pub fn fails(self) -> String {
        assert!(
            !self.success,
            "{}",
            self.describe("command unexpectedly succeeded")
        );
        self.stderr
    }
}

fn run(cmd: &mut Command) -> Outcome {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("starting a binary");
    Outcome {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running `zoo-registry serve` with its own data dir; killed on drop.
pub struct Registry {
    child: Child,
    pub url: String,
    pub data: TempDir,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(&[], &[])
    }

    /// Starts with extra environment variables (e.g. `RUST_LOG`) and extra
    /// `serve` arguments; the server log is `data/server.log`.
    pub fn start_with(env: &[(&str, &str)], args: &[&str]) -> Registry {
        let data = tempfile::tempdir().expect("a temp dir");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, url) = spawn_registry(data.path(), "127.0.0.1:0", &env, &args);
        Registry {
            child,
            url,
            data,
            env,
            args,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the server (no shutdown of any kind) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server if it runs and starts it again on the same data
    /// directory and address.
    pub fn restart(&mut self) {
        self.kill();
        let addr = self.url.trim_start_matches("http://").to_string();
        // The port may linger briefly after a kill: retry for a while.
        let start = Instant::now();
        loop {
            match try_spawn_registry(self.data.path(), &addr, &self.env, &self.args) {
                Ok((child, url)) => {
                    assert_eq!(url, self.url, "restarted on another address");
                    self.child = child;
                    return;
                }
                Err(log) if start.elapsed() > Duration::from_secs(30) => {
                    panic!("zoo-registry did not restart on {addr}; log: {log}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("server.log")).unwrap_or_default()
    }

    /// Creates a user and returns their token.
    pub fn add_user(&self, login: &str) -> String {
        self.add_user_with_scopes(login, "publish-new,publish-update,yank,owners")
    }

    pub fn add_user_with_scopes(&self, login: &str, scopes: &str) -> String {
        let stdout = run(Command::new(binary("zoo-registry"))
            .args(["user", "add", login, "--scopes", scopes, "--data"])
            .arg(self.data.path()))
        .ok();
        stdout.trim().to_string()
    }

    /// Where the registry stores a blob (for tampering tests).
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.data
            .path()
            .join("blobs/sha256")
            .join(&sha256[..2])
            .join(sha256)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_registry(
    data: &Path,
    bind: &str,
    env: &[(String, String)],
    args: &[String],
) -> (Child, String) {
    try_spawn_registry(data, bind, env, args)
        .unwrap_or_else(|log| panic!("zoo-registry did not print its address; log: {log}"))
}

/// Starts `zoo-registry serve` and waits for its address; on failure the
/// server log.
fn try_spawn_registry(
    data: &Path,
    bind: &str,
    env: &[(String, String)],
    args: &[String],
) -> Result<(Child, String), String> {
    let log_path = data.join("server.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("a log file");
    let mut child = Command::new(binary("zoo-registry"))
        .args(["serve", "--bind", bind, "--data"])
        .arg(data)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("starting zoo-registry");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(url) => Ok((child, url)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(std::fs::read_to_string(&log_path).unwrap_or_default())
        }
    }
}

/// A `zoo` user: a private ZOO_HOME, HOME and config dir.
pub struct Zoo {
    pub home: TempDir,
    pub user_home: TempDir,
    pub registry: String,
    pub token: Option<String>,
}

impl Zoo {
    pub fn new(registry: &str, token: Option<&str>) -> Zoo {
        Zoo {
            home: tempfile::tempdir().expect("a temp dir"),
            user_home: tempfile::tempdir().expect("a temp dir"),
            registry: registry.to_string(),
            token: token.map(str::to_owned),
        }
    }

    /// Another user sharing this one's ZOO_HOME.
    pub fn zoo_home(&self) -> &Path {
        self.home.path()
    }

    /// `zoo ARGS` with this user's environment, in `dir`.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary("zoo"));
        cmd.args(args)
            .current_dir(dir)
            .env("ZOO_HOME", self.home.path())
            .env("HOME", self.user_home.path())
            .env("XDG_CONFIG_HOME", self.user_home.path().join(".config"))
            .env("ZOO_REGISTRY", &self.registry)
            .env("NO_COLOR", "1")
            .env_remove("ZOO_OFFLINE")
            .env_remove("ZOO_TOKEN");
        if let Some(token) = &self.token {
            cmd.env("ZOO_TOKEN", token);
        }
        cmd
    }

    /// Runs `zoo ARGS` in the user's home dir (not a project).
    pub fn run(&self, args: &[&str]) -> Outcome {
        run(&mut self.command(self.user_home.path(), args))
    }

    /// Runs `zoo ARGS` in `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Outcome {
        run(&mut self.command(dir, args))
    }

    /// Starts `zoo ARGS` in `dir` with its output captured, for runs in
    /// parallel (see [`wait_all_ok`]).
    pub fn spawn_in(&self, dir: &Path, args: &[&str]) -> Child {
        self.command(dir, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting zoo")
    }

    /// Installed `(name, version)` pairs from `zoo list --json`.
    pub fn list(&self) -> Vec<(String, String)> {
        let json = self.run(&["list", "--json"]).ok();
        let value: serde_json::Value = serde_json::from_str(&json).expect("list --json is JSON");
        value
            .as_array()
            .expect("an array")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or_default().to_string(),
                    p["version"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Installed `(name, version)` pairs read from ZOO_HOME/packages (each
    /// `zoo` start loads libtorch, so cheap checks skip the binary).
    pub fn installed(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let root = self.home.path().join("packages");
        for name in std::fs::read_dir(root).into_iter().flatten().flatten() {
            for version in std::fs::read_dir(name.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if version.path().join(".zoo/installed.json").is_file() {
                    found.push((
                        name.file_name().to_string_lossy().into_owned(),
                        version.file_name().to_string_lossy().into_owned(),
                    ));
                }
            }
        }
        found.sort();
        found
    }
}

/// Waits for every child and asserts that each succeeded.
#[track_caller]
pub fn wait_all_ok(children: Vec<Child>) {
    for child in children {
        let out = child.wait_with_output().expect("waiting for zoo");
        assert!(
            out.status.success(),
            "a parallel zoo failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Writes a package directory `root/<name>-<version>` with a zoo.toml, the
/// given dependencies and files; returns its path.
pub fn write_package(
    root: &Path,
    name: &str,
    version: &str,
    deps: &[(&str, &str)],
    files: &[(&str, &[u8])],
) -> PathBuf {
    let dir = root.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&dir).expect("creating a package dir");
    let mut manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nkind = \"function\"\n\
         description = \"{name}, a test package\"\nlicense = \"MIT\"\nkeywords = [\"test\"]\n"
    );
    if !deps.is_empty() {
        manifest.push_str("\n[dependencies]\n");
        for (dep, req) in deps {
            manifest.push_str(&format!("{dep} = \"{req}\"\n"));
        }
    }
    std::fs::write(dir.join("zoo.toml"), manifest).expect("writing zoo.toml");
    for (path, bytes) in files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("creating a dir");
        }
        std::fs::write(full, bytes).expect("writing a package file");
    }
    dir
}

/// `n` bytes of deterministic pseudo-random data (incompressible enough).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// sha256 of bytes, lowercase hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Polls `cond` for up to `timeout`.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
