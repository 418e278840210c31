//! Crash-consistency harness: SIGKILLs `zoo install` and `zoo-registry`
//! (during publishes) at random points, then checks that nothing is
//! corrupt and that a retry succeeds.
//!
//! Kill points are drawn uniformly over the busy part of each operation:
//! from the moment it first touches its data directory until its work is
//! complete (an install: every package in place; a publish: the client
//! exits), measured once un-killed at the start, stretched by a fifth
//! so that some kills land just after the end. Runs are reproducible with
//! the printed seed (`ZOO_CRASH_SEED`).

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::{Registry, Zoo, noise, sha256, write_package};

/// xorshift64*: reproducible kill points without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, max)`.
    pub fn duration(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().max(1) as u64;
        Duration::from_nanos(self.next_u64() % nanos)
    }
}

/// The seed from `ZOO_CRASH_SEED`, else from the clock.
pub fn seed() -> u64 {
    std::env::var("ZOO_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// What the runs of one harness saw.
#[derive(Debug, Default)]
pub struct CrashReport {
    pub what: &'static str,
    pub runs: usize,
    /// Runs whose operation had already finished when the kill landed.
    pub finished_before_kill: usize,
    /// Runs that left debris (partial downloads, staging dirs, temp files,
    /// a stale index mirror) which the next start or run cleaned up.
    pub left_debris: usize,
    /// What the kills left, by kind: how many runs saw each.
    pub seen: std::collections::BTreeMap<String, usize>,
    /// Corruption, lost acknowledged work or failed retries: must be empty.
    pub failures: Vec<String>,
    pub elapsed: Duration,
}

impl std::fmt::Display for CrashReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} runs in {:.0} s: {} killed mid-way ({} left debris that was cleaned up), \
             {} after finishing; {} failures",
            self.what,
            self.runs,
            self.elapsed.as_secs_f64(),
            self.runs - self.finished_before_kill,
            self.left_debris,
            self.finished_before_kill,
            self.failures.len()
        )?;
        for (what, runs) in &self.seen {
            writeln!(f, "  {runs:>4} runs: {what}")?;
        }
        for failure in &self.failures {
            writeln!(f, "  FAILURE {failure}")?;
        }
        Ok(())
    }
}

/// The command with its output discarded.
fn quiet(mut cmd: std::process::Command) -> std::process::Command {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Whether `dir` holds any entry at all (recursively: any file).
fn has_files(dir: &Path) -> bool {
    walk(dir).next().is_some()
}

fn walk(dir: &Path) -> impl Iterator<Item = PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    std::iter::from_fn(move || {
        while let Some(path) = stack.pop() {
            match std::fs::read_dir(&path) {
                Ok(entries) => stack.extend(entries.flatten().map(|e| e.path())),
                Err(_) if path != Path::new("") && path.is_file() => return Some(path),
                Err(_) => {}
            }
        }
        None
    })
}

/// Spawns `child`, waits until `busy()` says it touched its data (or it
/// exited), then sleeps `delay(window)` and runs `kill`. Returns whether
/// the child had finished on its own, and the child's success.
fn kill_at(
    mut child: Child,
    busy: impl Fn() -> bool,
    delay: Duration,
    kill: impl FnOnce(&mut Child),
) -> (bool, bool) {
    let start = Instant::now();
    while !busy() && start.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    std::thread::sleep(delay);
    let finished = matches!(child.try_wait(), Ok(Some(_)));
    kill(&mut child);
    let status = child.wait().expect("waiting for the child");
    (finished, finished && status.success())
}

/// Measures the busy window of one un-killed run of `child`.
/// Measures the busy window of one un-killed run of `child`: from `busy()`
/// to `done()` (its work is complete, before the process winds down) or
/// its exit, whichever comes first.
fn busy_window(mut child: Child, busy: impl Fn() -> bool, done: impl Fn() -> bool) -> Duration {
    let exited = |child: &mut Child| matches!(child.try_wait(), Ok(Some(_)));
    while !busy() && !exited(&mut child) {
        std::thread::sleep(Duration::from_micros(500));
    }
    let start = Instant::now();
    while !done() && !exited(&mut child) {
        std::thread::sleep(Duration::from_micros(500));
    }
    let window = start.elapsed();
    let status = child.wait().expect("waiting for the child");
    assert!(status.success(), "the calibration run failed");
    window
}

/// The installed files a package must end up with.
struct Expected {
    files: Vec<(String, String, String)>, // (package dir, file, sha256)
}

impl Expected {
    fn check(&self, home: &Path) -> Result<(), String> {
        for (dir, file, sha) in &self.files {
            let path = home.join("packages").join(dir).join(file);
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if sha256(&bytes) != *sha {
                return Err(format!("{} has the wrong content", path.display()));
            }
        }
        Ok(())
    }
}

/// `zoo install` killed at random points `runs` times, each into a fresh
/// store; after each: `zoo cache verify` passes (no corrupt blob, no
/// incomplete or damaged installed package) and a retry installs every
/// file with the right content; every tenth store (and the last) is
/// verified again after the retry.
pub fn installs(runs: usize, rng: &mut Rng) -> CrashReport {
    let started = Instant::now();
    let registry = Registry::start();
    let alice = Zoo::new(&registry.url, Some(&registry.add_user("alice")));
    let work = tempfile::tempdir().expect("a temp dir");
    let mut expected = Expected { files: Vec::new() };
    let packages = [
        ("liba", "1.0.0", 3 << 20, &[][..]),
        ("libb", "2.1.0", 3 << 20, &[][..]),
        (
            "app",
            "0.3.0",
            3 << 19,
            &[("liba", "^1"), ("libb", "^2")][..],
        ),
    ];
    for (seed, (name, version, size, deps)) in packages.iter().enumerate() {
        let weights = noise(*size, 100 + seed as u64);
        let notes = format!("notes of {name}\n").into_bytes();
        let dir = write_package(
            work.path(),
            name,
            version,
            deps,
            &[("weights.bin", &weights), ("notes.txt", &notes)],
        );
        alice
            .run(&["publish", dir.to_str().unwrap_or_default()])
            .ok();
        for (file, bytes) in [("weights.bin", &weights), ("notes.txt", &notes)] {
            expected
                .files
                .push((format!("{name}/{version}"), file.into(), sha256(bytes)));
        }
    }

    let calibration = Zoo::new(&registry.url, None);
    let home = calibration.zoo_home().to_path_buf();
    let child = quiet(calibration.command(calibration.user_home.path(), &["install", "app"]))
        .spawn()
        .expect("starting zoo");
    let installed = |home: &Path| {
        walk(home)
            .filter(|p| p.ends_with(".zoo/installed.json"))
            .count()
    };
    let window = busy_window(child, || has_files(&home), || installed(&home) == 3).mul_f64(1.2);

    let mut report = CrashReport {
        what: "zoo install (SIGKILL)",
        runs,
        ..Default::default()
    };
    for run in 0..runs {
        let user = Zoo::new(&registry.url, None);
        let home = user.zoo_home().to_path_buf();
        let child = quiet(user.command(user.user_home.path(), &["install", "app"]))
            .spawn()
            .expect("starting zoo");
        let delay = rng.duration(window);
        let (finished, _) = kill_at(
            child,
            || has_files(&home),
            delay,
            |c| {
                let _ = c.kill();
            },
        );
        report.finished_before_kill += usize::from(finished);
        let files: Vec<String> = walk(&home)
            .filter_map(|p| {
                p.strip_prefix(&home)
                    .ok()
                    .map(|r| r.to_string_lossy().into_owned())
            })
            .collect();
        let partial = files.iter().any(|f| f.ends_with(".partial"));
        let staging = files.iter().any(|f| f.starts_with("tmp/"));
        let installed = installed(&home);
        report.left_debris += usize::from(partial || staging);
        let mut note = |what: String| *report.seen.entry(what).or_default() += 1;
        if partial {
            note("a partial download (.partial) left".into());
        }
        if staging {
            note("a staging directory or lock in tmp/ left".into());
        }
        if !finished {
            note(format!("killed with {installed} of 3 packages installed"));
        }
        let fail =
            |what: &str, detail: String| format!("install run {run} ({delay:?}): {what}: {detail}");
        let verify = user.run(&["cache", "verify"]);
        if !verify.success {
            report
                .failures
                .push(fail("cache verify after the kill", verify.stderr));
            continue;
        }
        let retry = user.run(&["install", "app"]);
        if !retry.success {
            report
                .failures
                .push(fail("retrying the install", retry.stderr));
            continue;
        }
        if let Err(e) = expected.check(&home) {
            report.failures.push(fail("installed files", e));
        }
        if run + 1 < runs && run % 10 != 0 {
            continue; // the store after a retry is verified every tenth run
        }
        let verify = user.run(&["cache", "verify"]);
        if !verify.success || !verify.stdout.contains("3 installed packages: 0 broken") {
            report.failures.push(fail(
                "cache verify after the retry",
                format!("{}{}", verify.stdout, verify.stderr),
            ));
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// The registry's blob uploads in progress (`DATA/tmp/`).
fn uploading(data: &Path) -> bool {
    has_files(&data.join("tmp"))
}

/// `zoo-registry fsck --data DATA` as JSON; `Err` when it could not run.
fn fsck(data: &Path, extra: &[&str]) -> Result<serde_json::Value, String> {
    let out = std::process::Command::new(crate::binary("zoo-registry"))
        .args(["fsck", "--json", "--data"])
        .arg(data)
        .args(extra)
        .output()
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "fsck printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn problem_kinds(report: &serde_json::Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .map(|problems| {
            problems
                .iter()
                .map(|p| format!("{}: {}", p["kind"], p["detail"]))
                .collect()
        })
        .unwrap_or_default()
}

/// The versions the registry's HTTP index lists for `name`.
fn indexed_versions(url: &str, name: &str) -> Vec<String> {
    let index = format!("{url}/index/{}", zoo_format::index::index_path(name));
    let Ok(reply) = reqwest::blocking::get(index) else {
        return Vec::new();
    };
    let text = reply.text().unwrap_or_default();
    zoo_format::index::parse_document(&text)
        .map(|entries| entries.iter().map(|e| e.vers.to_string()).collect())
        .unwrap_or_default()
}

/// `zoo-registry` SIGKILLed at random points during `zoo publish`, `runs`
/// times. After each kill, before the restart, `fsck` may only find the
/// static index mirror behind the database (it is rewritten at start-up);
/// after the restart it must find nothing at all (temp files included).
/// A publish that was acknowledged must be in the index; retrying a
/// publish succeeds (or says the version exists, when it does); at the end
/// every version installs.
pub fn publishes(runs: usize, rng: &mut Rng) -> CrashReport {
    let started = Instant::now();
    let mut registry = Registry::start();
    let data = registry.data.path().to_path_buf();
    let token = registry.add_user("alice");
    let alice = Zoo::new(&registry.url, Some(&token));
    let work = tempfile::tempdir().expect("a temp dir");
    let package = |version: &str, seed: u64| {
        write_package(
            work.path(),
            "crashed",
            version,
            &[],
            &[
                ("weights.bin", &noise(2 << 20, seed)),
                ("notes.txt", format!("{version}\n").as_bytes()),
            ],
        )
    };
    let first = package("0.1.0", 1);
    let child = quiet(alice.command(
        work.path(),
        &["publish", first.to_str().unwrap_or_default()],
    ))
    .spawn()
    .expect("starting zoo");
    let window = busy_window(child, || uploading(&data), || false).mul_f64(1.2);

    let mut report = CrashReport {
        what: "zoo-registry during zoo publish (SIGKILL)",
        runs,
        ..Default::default()
    };
    let mut published = vec!["0.1.0".to_string()];
    for run in 0..runs {
        let version = format!("1.0.{run}");
        let dir = package(&version, 1000 + run as u64);
        let child =
            quiet(alice.command(work.path(), &["publish", dir.to_str().unwrap_or_default()]))
                .spawn()
                .expect("starting zoo");
        let delay = rng.duration(window);
        // The server is the victim; the client then fails or has finished.
        let (_, acked) = kill_at(child, || uploading(&data), delay, |_| registry.kill());
        let fail =
            |what: &str, detail: String| format!("publish run {run} ({delay:?}): {what}: {detail}");
        report.finished_before_kill += usize::from(acked);

        let temp = uploading(&data);
        let mut debris = temp;
        let mut note = |what: &str| *report.seen.entry(what.to_string()).or_default() += 1;
        if temp {
            note("an upload temp file in DATA/tmp left");
        }
        if acked {
            note("the publish was acknowledged before the kill");
        }
        match fsck(&data, &[]) {
            Ok(before) => {
                let kinds = problem_kinds(&before);
                let lagging = |k: &String| {
                    k.contains("\"index-mismatch\"") || k.contains("\"index-missing\"")
                };
                if kinds.iter().any(lagging) {
                    debris = true;
                    note("the index mirror behind the database (rewritten at start-up)");
                }
                let real: Vec<&String> = kinds.iter().filter(|k| !lagging(k)).collect();
                if !real.is_empty() {
                    report
                        .failures
                        .push(fail("fsck after the kill", format!("{real:?}")));
                }
            }
            Err(e) => report.failures.push(fail("fsck after the kill", e)),
        }
        report.left_debris += usize::from(debris);
        registry.restart();
        match fsck(&data, &["--temp-age-minutes", "0"]) {
            Ok(after) if after["ok"] == true => {}
            Ok(after) => report.failures.push(fail(
                "fsck after the restart",
                format!("{:?}", problem_kinds(&after)),
            )),
            Err(e) => report.failures.push(fail("fsck after the restart", e)),
        }
        let listed = indexed_versions(&registry.url, "crashed");
        if acked && !listed.contains(&version) {
            report.failures.push(fail(
                "an acknowledged publish was lost",
                format!("{listed:?}"),
            ));
        }
        let retry = alice.run(&["publish", dir.to_str().unwrap_or_default()]);
        let exists = retry.stderr.contains("already exists");
        if !(retry.success || exists && listed.contains(&version)) {
            report.failures.push(fail(
                "retrying the publish",
                format!("{}{}", retry.stdout, retry.stderr),
            ));
            continue;
        }
        published.push(version);
    }
    // fsck re-hashed every blob each time; installing the first, the last
    // and one random version in between shows the index serves them.
    let user = Zoo::new(&registry.url, None);
    let middle = published[rng.next_u64() as usize % published.len()].clone();
    let last = published.last().cloned().unwrap_or_default();
    for version in [published[0].clone(), middle, last] {
        let spec = format!("crashed@={version}");
        let out = user.run(&["install", &spec]);
        if !out.success {
            report
                .failures
                .push(format!("installing {spec} at the end: {}", out.stderr));
        }
    }
    let verify = user.run(&["cache", "verify"]);
    if !verify.success {
        report
            .failures
            .push(format!("cache verify at the end: {}", verify.stderr));
    }
    report.elapsed = started.elapsed();
    report
}
