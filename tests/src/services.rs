//! Real backing services for the registry, started on 127.0.0.1 for one
//! test and stopped when dropped: a throwaway PostgreSQL cluster and an
//! S3-compatible server (`s3s-fs`), plus nginx in front of a registry.
//!
//! A missing program is a test failure with the command that installs it
//! (`cargo xtask setup-services`), never a silent skip.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use crate::wait_for;

const INSTALL_HINT: &str = "run `cargo xtask setup-services` (installs PostgreSQL and nginx \
     with apt-get when missing, and s3s-fs into .tools/)";

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

fn wait_for_port(port: u16) -> bool {
    wait_for(Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
}

/// A background server process, killed when dropped.
struct Daemon(Child);

impl Daemon {
    /// Spawns `cmd` (output discarded) and waits until it listens on `port`;
    /// on failure panics with `log()` (what the server wrote, if anything).
    fn spawn(cmd: &mut Command, port: u16, log: impl FnOnce() -> String) -> Daemon {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {:?}: {e}", cmd.get_program()));
        let daemon = Daemon(child);
        if !wait_for_port(port) {
            drop(daemon);
            panic!(
                "{:?} did not start listening on port {port}: {}",
                cmd.get_program(),
                log()
            );
        }
        daemon
    }
}

impl Drop for Daemon {
    /// SIGTERM first (nginx's master only takes its workers down on a
    /// signal it can handle), SIGKILL if it is still there after 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let exited = wait_for(Duration::from_secs(5), || {
            matches!(self.0.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `program args` (as the `postgres` user when we are root, since
/// PostgreSQL refuses to run as root) and panics with its output on failure.
fn run_pg(bin: &Path, program: &str, args: &[&str]) {
    let exe = bin.join(program);
    let mut cmd = if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(&exe);
        cmd
    } else {
        Command::new(&exe)
    };
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The directory with `initdb`, `pg_ctl`, `createdb`.
fn postgres_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("ZOO_PG_BIN") {
        return PathBuf::from(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").is_file() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    versions
        .pop()
        .unwrap_or_else(|| panic!("PostgreSQL (initdb, pg_ctl) is not installed: {INSTALL_HINT}"))
}

/// A throwaway PostgreSQL cluster (trust auth, fsync off) on a free port.
pub struct Postgres {
    dir: TempDir,
    bin: PathBuf,
    pub port: u16,
    databases: AtomicUsize,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("a temp dir");
        if is_root() {
            let ids = |flag: &str| -> u32 {
                let out = Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .expect("running id");
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("there is no `postgres` user: {INSTALL_HINT}"))
            };
            std::os::unix::fs::chown(dir.path(), Some(ids("-u")), Some(ids("-g")))
                .expect("handing the cluster directory to the postgres user");
        }
        let data = dir.path().join("data");
        let data_arg = data.to_str().expect("a UTF-8 temp path");
        run_pg(
            &bin,
            "initdb",
            &[
                "-D",
                data_arg,
                "-U",
                "test",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        let log = dir.path().join("postgres.log");
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.path().display()
        );
        run_pg(
            &bin,
            "pg_ctl",
            &[
                "-D",
                data_arg,
                "-l",
                log.to_str().expect("a UTF-8 temp path"),
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
        Postgres {
            dir,
            bin,
            port,
            databases: AtomicUsize::new(0),
        }
    }

    /// Creates a new empty database and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!("zoo{}", self.databases.fetch_add(1, Ordering::SeqCst));
        let port = self.port.to_string();
        run_pg(
            &self.bin,
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", "test", &name],
        );
        format!("postgres://test@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        if let Some(data) = data.to_str() {
            let exe = self.bin.join("pg_ctl");
            let mut cmd = if is_root() {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", "postgres", "--"]).arg(exe);
                cmd
            } else {
                Command::new(exe)
            };
            let _ = cmd
                .args(["-D", data, "-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The `s3s-fs` binary: `ZOO_S3S_FS`, `.tools/bin/`, `~/.cargo/bin/`, PATH.
fn s3s_fs_binary() -> PathBuf {
    if let Ok(path) = std::env::var("ZOO_S3S_FS") {
        return PathBuf::from(path);
    }
    let mut candidates = vec![repo_root().join(".tools/bin/s3s-fs")];
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/s3s-fs"));
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        candidates.push(dir.join("s3s-fs"));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("s3s-fs (an S3-compatible server) is not installed: {INSTALL_HINT}")
        })
}

/// An S3-compatible server (`s3s-fs`) on a free port; a bucket is a directory.
pub struct S3 {
    _daemon: Daemon,
    pub dir: TempDir,
    pub endpoint: String,
    buckets: AtomicUsize,
}

const ACCESS_KEY: &str = "zoo-test";
const SECRET_KEY: &str = "zoo-test-secret";

impl S3 {
    pub fn start() -> S3 {
        let exe = s3s_fs_binary();
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let daemon = Daemon::spawn(
            Command::new(&exe)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(dir.path()),
            port,
            String::new,
        );
        S3 {
            _daemon: daemon,
            dir,
            endpoint: format!("http://127.0.0.1:{port}"),
            buckets: AtomicUsize::new(0),
        }
    }

    /// Creates an empty bucket and returns its name.
    pub fn create_bucket(&self) -> String {
        let name = format!("zoo{}", self.buckets.fetch_add(1, Ordering::SeqCst));
        std::fs::create_dir(self.dir.path().join(&name)).expect("creating a bucket directory");
        name
    }

    /// Where s3s-fs keeps an object (a file named by its key).
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.dir.path().join(bucket).join(key)
    }

    /// The `AWS_*` variables a client of this server needs.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// nginx as a reverse proxy on `port` in front of `upstreams` (round
/// robin), as README's "Deploying at scale" suggests: blobs are cached
/// (their `Cache-Control` says immutable; `X-Cache-Status` shows hits),
/// everything else, index documents included, goes to a registry, which
/// answers conditional requests itself.
pub struct Nginx {
    _daemon: Daemon,
    pub dir: TempDir,
    pub url: String,
}

impl Nginx {
    pub fn start(port: u16, upstreams: &[&str]) -> Nginx {
        let exe = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("nginx is not installed: {INSTALL_HINT}"));
        let dir = tempfile::tempdir().expect("a temp dir");
        let servers: String = upstreams
            .iter()
            .map(|u| format!("    server {};\n", u.trim_start_matches("http://")))
            .collect();
        let d = dir.path().display();
        let user = if is_root() { "user root;\n" } else { "" };
        let conf = format!(
            "{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
               access_log {d}/access.log;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               proxy_cache_path {d}/cache levels=1:2 keys_zone=zoo:10m max_size=1g inactive=1h use_temp_path=off;\n\
               upstream registry {{\n{servers}  }}\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 client_max_body_size 0;\n\
                 proxy_request_buffering off;\n\
                 proxy_http_version 1.1;\n\
                 proxy_set_header Host $http_host;\n\
                 location / {{\n\
                   proxy_pass http://registry;\n\
                 }}\n\
                 location /blobs/ {{\n\
                   proxy_pass http://registry;\n\
                   proxy_cache zoo;\n\
                   add_header X-Cache-Status $upstream_cache_status always;\n\
                 }}\n\
               }}\n\
             }}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("writing nginx.conf");
        let error_log = dir.path().join("error.log");
        let daemon = Daemon::spawn(
            Command::new(&exe)
                .arg("-c")
                .arg(&conf_path)
                .arg("-p")
                .arg(dir.path()),
            port,
            || std::fs::read_to_string(error_log).unwrap_or_default(),
        );
        Nginx {
            _daemon: daemon,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}
