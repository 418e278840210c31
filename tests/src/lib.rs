//! The test kit of every test crate (torch-free, so torch crates' tests may
//! use it too), and the harness of the end-to-end tests: locates the built
//! binaries, starts a real `zoo-registry` on 127.0.0.1 ([`Registry`],
//! [`serve`], [`spawn_listening`]) or in-process (`in_process`, feature
//! `in-process`), builds packages ([`Manifest`], [`write_package`]), runs
//! commands ([`run_command`] → [`Outcome`]), and runs the real `zoo` with its
//! own ZOO_HOME and config dir (the user's config is never touched).

pub mod crash;
#[cfg(feature = "in-process")]
pub mod in_process;
pub mod load;
pub mod manifest;
pub mod proxy;

pub use manifest::Manifest;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub mod cargo;
pub mod services;

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
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
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

    /// Asserts success and returns the outcome (for stderr too).
    #[track_caller]
    pub fn succeeded(self) -> Outcome {
        assert!(self.success, "{}", self.describe("command failed"));
        self
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

    /// Asserts the exit code and returns the outcome.
    #[track_caller]
    pub fn exits_with(self, code: i32) -> Outcome {
        let what = format!("expected exit code {code}, got {:?}", self.code);
        assert_eq!(self.code, Some(code), "{}", self.describe(&what));
        self
    }
}

/// Runs a prepared command to completion.
pub fn run_command(cmd: &mut Command) -> Outcome {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("starting a binary");
    Outcome {
        success: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Which backends the registries of a test use: `ZOO_TEST_BACKEND` =
/// `sqlite-disk` (default) or `postgres-s3` (a throwaway PostgreSQL cluster
/// and an s3s-fs server per registry, see [`services`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    SqliteDisk,
    PostgresS3,
}

impl Backend {
    /// From `ZOO_TEST_BACKEND`; an unknown value is a test failure.
    pub fn from_env() -> Backend {
        match std::env::var("ZOO_TEST_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("sqlite-disk") => Backend::SqliteDisk,
            Ok("postgres-s3") => Backend::PostgresS3,
            Ok(other) => panic!("ZOO_TEST_BACKEND={other:?}: expected sqlite-disk or postgres-s3"),
        }
    }
}

/// The shared backends of one or more registry processes.
pub struct Shared {
    pub postgres: services::Postgres,
    pub s3: services::S3,
    pub database_url: String,
    pub bucket: String,
    /// One index-signing key for every replica (ZOO_REGISTRY_SIGNING_KEY).
    pub keys: TempDir,
}

impl Shared {
    /// A PostgreSQL cluster with one database and an S3 server with one bucket.
    pub fn start() -> std::sync::Arc<Shared> {
        let postgres = services::Postgres::start();
        let s3 = services::S3::start();
        let database_url = postgres.create_database();
        let bucket = s3.create_bucket();
        std::sync::Arc::new(Shared {
            postgres,
            s3,
            database_url,
            bucket,
            keys: tempfile::tempdir().expect("a temp dir"),
        })
    }
}

/// A running `zoo-registry serve` with its own data dir; killed on drop.
pub struct Registry {
    child: Child,
    pub url: String,
    pub data: TempDir,
    /// Set for PostgreSQL + S3.
    pub shared: Option<std::sync::Arc<Shared>>,
    /// Extra environment and `serve` arguments, kept for [`Registry::restart`].
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Registry {
    /// On the backends `ZOO_TEST_BACKEND` names.
    pub fn start() -> Registry {
        match Backend::from_env() {
            Backend::SqliteDisk => Registry::start_with(None, &[]),
            Backend::PostgresS3 => Registry::start_with(Some(Shared::start()), &[]),
        }
    }

    /// Another process on the same database and bucket (PostgreSQL + S3).
    pub fn replica(&self, extra: &[&str]) -> Registry {
        let shared = self
            .shared
            .clone()
            .expect("replicas need shared backends (PostgreSQL + S3)");
        Registry::start_with(Some(shared), extra)
    }

    /// `--database`/`--blobs` and the `AWS_*` variables for `shared`.
    fn backend_command(cmd: &mut Command, shared: Option<&Shared>) {
        if let Some(shared) = shared {
            cmd.args(["--database", &shared.database_url])
                .args(["--blobs", &format!("s3://{}", shared.bucket)])
                .envs(shared.s3.env())
                .env(
                    "ZOO_REGISTRY_SIGNING_KEY",
                    shared.keys.path().join("index-signing.key"),
                );
        } else {
            cmd.env_remove("ZOO_REGISTRY_SIGNING_KEY");
        }
        cmd.env_remove("ZOO_REGISTRY_DATABASE")
            .env_remove("ZOO_REGISTRY_BLOBS");
    }

    /// Starts `zoo-registry serve` on `shared` backends (`None`: SQLite and
    /// disk in its data dir) with extra `serve` arguments.
    pub fn start_with(shared: Option<std::sync::Arc<Shared>>, extra: &[&str]) -> Registry {
        Registry::start_in(tempfile::tempdir().expect("a temp dir"), shared, extra)
    }

    /// SQLite and disk, with extra environment variables (e.g. `RUST_LOG`)
    /// and extra `serve` arguments; the server log is `data/server.log`.
    pub fn start_with_env(env: &[(&str, &str)], args: &[&str]) -> Registry {
        Registry::launch(tempfile::tempdir().expect("a temp dir"), None, env, args)
    }

    /// Like [`Registry::start_with`] on an existing data directory.
    pub fn start_in(
        data: TempDir,
        shared: Option<std::sync::Arc<Shared>>,
        extra: &[&str],
    ) -> Registry {
        Registry::launch(data, shared, &[], extra)
    }

    fn launch(
        data: TempDir,
        shared: Option<std::sync::Arc<Shared>>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Registry {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, url) =
            try_spawn_registry(data.path(), "127.0.0.1:0", shared.as_deref(), &env, &args)
                .unwrap_or_else(|log| panic!("zoo-registry did not print its address; log: {log}"));
        Registry {
            child,
            url,
            data,
            shared,
            env,
            args,
        }
    }

    /// The registry's index-signing key (what a mirror run by the same
    /// operator would sign with).
    pub fn signing_key(&self) -> zoo_format::signing::SecretKey {
        let path = self.data.path().join("keys/index-signing.key");
        let text = std::fs::read_to_string(&path).expect("the registry's key file");
        zoo_format::signing::SecretKey::from_file_text(&text).expect("a valid key file")
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
    /// directory, backends and address.
    pub fn restart(&mut self) {
        self.kill();
        let addr = self.url.trim_start_matches("http://").to_string();
        // The port may linger briefly after a kill: retry for a while.
        let start = Instant::now();
        loop {
            match try_spawn_registry(
                self.data.path(),
                &addr,
                self.shared.as_deref(),
                &self.env,
                &self.args,
            ) {
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

    /// `zoo-registry ARGS` on this registry's backends (admin commands).
    pub fn admin(&self, args: &[&str]) -> Outcome {
        let mut cmd = Command::new(binary("zoo-registry"));
        cmd.args(args).arg("--data").arg(self.data.path());
        Registry::backend_command(&mut cmd, self.shared.as_deref());
        run_command(&mut cmd)
    }

    /// A `zoo` user of this registry: `login`, created as [`Registry::add_user`]
    /// does, with their token.
    pub fn user(&self, login: &str) -> Zoo {
        Zoo::new(&self.url, Some(&self.add_user(login)))
    }

    /// Creates a user and returns their token.
    pub fn add_user(&self, login: &str) -> String {
        self.add_user_with_scopes(login, "publish-new,publish-update,yank,owners")
    }

    pub fn add_user_with_scopes(&self, login: &str, scopes: &str) -> String {
        let stdout = self.admin(&["user", "add", login, "--scopes", scopes]).ok();
        stdout.trim().to_string()
    }

    /// The registry's SQLite database (for tampering tests).
    pub fn database(&self) -> PathBuf {
        self.data.path().join("registry.sqlite3")
    }

    /// The stored index entry of `name@version`, read from the database.
    pub fn index_line(&self, name: &str, version: &str) -> serde_json::Value {
        let db = rusqlite::Connection::open(self.database()).expect("the registry database");
        let line: String = db
            .query_row(
                "SELECT v.index_line FROM versions v JOIN packages p ON p.id = v.package_id \
                 WHERE p.name_norm = ?1 AND v.version = ?2",
                [name, version],
                |r| r.get(0),
            )
            .expect("a published version");
        serde_json::from_str(&line).expect("an index entry is JSON")
    }

    /// Rewrites the stored index entry of `name@version` behind the
    /// registry's back (a compromised database). With `--index-cache-ttl 0`
    /// the registry then renders and signs it.
    pub fn set_index_line(&self, name: &str, version: &str, entry: &serde_json::Value) {
        let db = rusqlite::Connection::open(self.database()).expect("the registry database");
        db.busy_timeout(Duration::from_secs(10))
            .expect("setting a busy timeout");
        let changed = db
            .execute(
                "UPDATE versions SET index_line = ?1 WHERE version = ?3 AND package_id = \
                 (SELECT id FROM packages WHERE name_norm = ?2)",
                [&entry.to_string(), name, version],
            )
            .expect("updating an index entry");
        assert_eq!(changed, 1, "{name}@{version} is not in the database");
    }

    /// Where the registry stores a blob (for tampering tests): a file in
    /// the data dir, or the file s3s-fs keeps the object in.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        let key = format!("blobs/sha256/{}/{sha256}", &sha256[..2]);
        match &self.shared {
            Some(shared) => shared.s3.object_path(&shared.bucket, &key),
            None => self.data.path().join(key),
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `zoo-registry serve` and waits for its address; on failure the
/// server log.
fn try_spawn_registry(
    data: &Path,
    bind: &str,
    shared: Option<&Shared>,
    env: &[(String, String)],
    args: &[String],
) -> Result<(Child, String), String> {
    let log_path = data.join("server.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("a log file");
    let mut cmd = serve_command(data, bind, args);
    Registry::backend_command(&mut cmd, shared);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stderr(log);
    match wait_listening(&mut cmd, Duration::from_secs(30)) {
        Ok((child, url, _)) => Ok((child, url)),
        Err(_) => Err(std::fs::read_to_string(&log_path).unwrap_or_default()),
    }
}

/// `zoo-registry serve --init --bind BIND --data DATA ARGS` (`--init`: the
/// data dir is fresh at first start, a no-op on restarts).
fn serve_command(data: &Path, bind: &str, args: &[impl AsRef<std::ffi::OsStr>]) -> Command {
    let mut cmd = Command::new(binary("zoo-registry"));
    cmd.args(["serve", "--init", "--bind", bind, "--data"])
        .arg(data)
        .args(args);
    cmd
}

/// A server process that printed `listening on URL`; killed on drop.
pub struct Listening {
    pub child: Child,
    /// `http://host:port`.
    pub url: String,
    /// `host:port`.
    pub addr: String,
    /// What it printed on stdout before the address line.
    pub before: Vec<String>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` with stdout piped (read on a thread to the end, so the
/// server never blocks on it) and waits up to `timeout` for its
/// `listening on URL` line; if none comes, kills it and returns what it
/// printed.
pub fn spawn_listening(cmd: &mut Command, timeout: Duration) -> Result<Listening, Vec<String>> {
    let (child, url, before) = wait_listening(cmd, timeout)?;
    let addr = url.trim_start_matches("http://").to_string();
    Ok(Listening {
        child,
        url,
        addr,
        before,
    })
}

/// [`spawn_listening`]'s child, URL and earlier lines.
fn wait_listening(
    cmd: &mut Command,
    timeout: Duration,
) -> Result<(Child, String, Vec<String>), Vec<String>> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting a server");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut before = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            match line.strip_prefix("listening on ") {
                Some(url) => {
                    let _ = tx.send(Ok((url.trim().to_string(), std::mem::take(&mut before))));
                }
                None => before.push(line),
            }
        }
        let _ = tx.send(Err(before));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok((url, before))) => Ok((child, url, before)),
        failed => {
            let _ = child.kill();
            let _ = child.wait();
            Err(match failed {
                Ok(Err(before)) => before,
                _ => rx
                    .recv_timeout(Duration::from_secs(1))
                    .ok()
                    .and_then(Result::err)
                    .unwrap_or_default(),
            })
        }
    }
}

/// `zoo-registry serve` on `data` (SQLite and disk; created if missing) at
/// a free port of 127.0.0.1 with extra `serve` arguments, stderr discarded.
pub fn serve(data: &Path, extra: &[&str]) -> Listening {
    let mut cmd = serve_command(data, "127.0.0.1:0", extra);
    cmd.stderr(Stdio::null());
    spawn_listening(&mut cmd, Duration::from_secs(30))
        .unwrap_or_else(|out| panic!("zoo-registry did not print its address; stdout: {out:?}"))
}

/// `zoo-registry ARGS --data DATA` (the admin commands), without a server.
pub fn registry_admin(data: &Path, args: &[&str]) -> Outcome {
    let mut cmd = Command::new(binary("zoo-registry"));
    cmd.args(args).arg("--data").arg(data);
    run_command(&mut cmd)
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
        run_command(&mut self.command(self.user_home.path(), args))
    }

    /// Runs `zoo ARGS` in `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Outcome {
        run_command(&mut self.command(dir, args))
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

    /// Installed `(name, version)` pairs read straight from ZOO_HOME/packages,
    /// independent of `zoo list`.
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
    let mut manifest = Manifest::new(name, version, "function")
        .description(&format!("{name}, a test package"))
        .license("MIT")
        .keywords(&["test"]);
    for (dep, req) in deps {
        manifest = manifest.dependency(dep, req);
    }
    manifest.write_with(&root.join(format!("{name}-{version}")), files)
}

/// Files under `dir`, recursively (0 when it does not exist).
pub fn count_files(dir: &Path) -> usize {
    walk(dir).iter().filter(|p| p.is_file()).count()
}

/// Deterministic incompressible bytes (xorshift seeded by `seed`).
pub use zoo_format::archive::testing::noise;

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

/// A raw HTTP/1.1 answer (for checks `zoo` does not expose: headers,
/// caches, sessions).
#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    /// Lowercase names, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first header of this (lowercase) name, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request (`url` = `http://host:port/path`) with extra header
/// lines and a body; reads the answer to the end (de-chunked).
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpReply {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = std::net::TcpStream::connect(host).expect("connecting");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("sending");
    stream.write_all(body).expect("sending the body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("reading the answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("a chunk size line");
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..end])
                    .split(';')
                    .next()
                    .unwrap_or("0")
                    .trim(),
                16,
            )
            .expect("a hex chunk size");
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = out;
    }
    HttpReply {
        status,
        headers,
        body,
    }
}

/// Files under `packages/` and `tmp/` of a ZOO_HOME with their hashes: what
/// a refused install must leave unchanged.
pub fn installed_state(home: &Path) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    for top in ["packages", "tmp"] {
        for path in walk(&home.join(top)) {
            let rel = path.strip_prefix(home).unwrap().display().to_string();
            state.insert(rel, sha256(&std::fs::read(&path).unwrap_or_default()));
        }
    }
    state
}

/// Every path under `dir`, depth first (directories too).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push(path.clone());
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Problems with a ZOO_HOME's stored blobs: partial downloads or wrong bytes.
pub fn blob_problems(home: &Path) -> Vec<String> {
    walk(&home.join("blobs"))
        .into_iter()
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            if name.ends_with(".partial") {
                return Some(format!("partial download left: {}", p.display()));
            }
            let actual = sha256(&std::fs::read(&p).ok()?);
            (actual != name).then(|| format!("{} holds bytes with sha256 {actual}", p.display()))
        })
        .collect()
}

/// Writes a `.npy` file of little-endian f32 `values` with `shape`, for
/// `zoo run --input` in tests.
pub fn write_npy(path: &Path, shape: &[usize], values: &[f32]) {
    let bytes = zoo_format::npy::f32_bytes(shape, values);
    std::fs::write(path, bytes).expect("writing a .npy file");
}
