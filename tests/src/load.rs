//! A loopback load test of `zoo-registry`: `connections` concurrent clients
//! mix index reads, blob downloads and publishes for a fixed time against a
//! real server process, checking every answer (status, length, sha256).
//! `cargo xtask bench load` runs it for 60 s at 64 connections on a release
//! build; a 3 s variant runs in CI and requires 0 errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use zoo_format::archive::{PackOptions, pack};

use crate::crash::Rng;
use crate::{Registry, noise, sha256, write_package};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub duration: Duration,
    pub connections: usize,
    /// Packages published before the timed phase (index and blob targets).
    pub seed_packages: usize,
    /// Size of each seed package's weights (at least 1 MiB, zoo's threshold
    /// for external blobs).
    pub blob_size: usize,
    /// Per mille of requests that are publishes; `blob_per_mille` are blob
    /// downloads; the rest are index reads.
    pub publish_per_mille: u64,
    pub blob_per_mille: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            duration: Duration::from_secs(60),
            connections: 64,
            seed_packages: 16,
            blob_size: 1 << 20,
            publish_per_mille: 20,
            blob_per_mille: 200,
        }
    }
}

/// The three kinds of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Index,
    Blob,
    Publish,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Index, Kind::Blob, Kind::Publish];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Index => "index read",
            Kind::Blob => "blob download",
            Kind::Publish => "publish",
        }
    }
}

/// Latencies and errors of one kind.
#[derive(Debug, Clone, Default)]
pub struct KindStats {
    pub latencies: Vec<Duration>,
    pub errors: usize,
    pub bytes: u64,
}

impl KindStats {
    /// The `q` quantile (0..=1) of the latencies.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let at = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[at]
    }
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub options: LoadOptions,
    pub elapsed: Duration,
    pub stats: Vec<(Kind, KindStats)>,
    /// The first few errors, verbatim.
    pub error_samples: Vec<String>,
    /// Registry RSS in KiB: after seeding (before the load), after the load, peak.
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub rss_peak_kib: u64,
    /// Problems `zoo-registry fsck` found after the load (must be 0).
    pub fsck_problems: usize,
}

impl LoadReport {
    pub fn errors(&self) -> usize {
        self.stats.iter().map(|(_, s)| s.errors).sum()
    }

    pub fn requests(&self) -> usize {
        self.stats
            .iter()
            .map(|(_, s)| s.latencies.len() + s.errors)
            .sum()
    }

    /// A Markdown table for BENCHMARKS.md.
    pub fn to_markdown(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut out = format!(
            "{} connections for {:.0} s: {} requests ({:.0}/s), {} errors; fsck afterwards: {} problems\n\n\
             | kind | requests | per s | MiB/s | p50 ms | p99 ms | max ms | errors |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
            self.options.connections,
            secs,
            self.requests(),
            self.requests() as f64 / secs,
            self.errors(),
            self.fsck_problems,
        );
        for (kind, s) in &self.stats {
            out.push_str(&format!(
                "| {} | {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} |\n",
                kind.name(),
                s.latencies.len(),
                s.latencies.len() as f64 / secs,
                s.bytes as f64 / secs / (1 << 20) as f64,
                ms(s.quantile(0.5)),
                ms(s.quantile(0.99)),
                ms(s.quantile(1.0)),
                s.errors,
            ));
        }
        out.push_str(&format!(
            "\nregistry RSS: {:.1} MiB before the load, {:.1} MiB after, peak {:.1} MiB\n",
            self.rss_before_kib as f64 / 1024.0,
            self.rss_after_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0,
        ));
        for sample in &self.error_samples {
            out.push_str(&format!("error: {sample}\n"));
        }
        out
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB (Linux; 0 elsewhere).
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A seeded package: its index path and the blobs it references.
struct Target {
    index_path: String,
    blobs: Vec<(String, u64)>,
}

/// Everything the clients share.
struct Shared {
    url: String,
    auth: String,
    client: reqwest::Client,
    targets: Vec<Target>,
    deadline: Instant,
    options: LoadOptions,
}

/// An archive ready to PUT (packed from a temp dir).
fn packed_package(name: &str, version: &str, files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let work = tempfile::tempdir()?;
    let dir = write_package(work.path(), name, version, &[], files);
    Ok(pack(&dir, &PackOptions::default())
        .with_context(|| format!("packing {name}@{version}"))?
        .bytes)
}

async fn put(shared: &Shared, path: &str, body: Vec<u8>) -> Result<reqwest::StatusCode> {
    let reply = shared
        .client
        .put(format!("{}{path}", shared.url))
        .header("authorization", &shared.auth)
        .body(body)
        .send()
        .await?;
    let status = reply.status();
    if !status.is_success() {
        bail!(
            "PUT {path}: {status}: {}",
            reply.text().await.unwrap_or_default()
        );
    }
    Ok(status)
}

/// Publishes the seed packages (each with one external blob).
async fn seed(shared: &mut Shared) -> Result<()> {
    for i in 0..shared.options.seed_packages {
        let name = format!("seed-{i}");
        let weights = noise(shared.options.blob_size, 7 + i as u64);
        let archive = packed_package(&name, "1.0.0", &[("weights.bin", &weights)])?;
        let weights_sha = sha256(&weights);
        put(
            shared,
            &format!("/api/v1/blobs/{weights_sha}"),
            weights.clone(),
        )
        .await?;
        let archive_sha = sha256(&archive);
        let archive_len = archive.len() as u64;
        put(shared, "/api/v1/packages/new", archive).await?;
        shared.targets.push(Target {
            index_path: zoo_format::index::index_path(&name),
            blobs: vec![
                (weights_sha, weights.len() as u64),
                (archive_sha, archive_len),
            ],
        });
    }
    Ok(())
}

/// One index read or blob download, checked; returns the bytes received.
async fn read(shared: &Shared, kind: Kind, rng: &mut Rng) -> Result<u64> {
    let target = &shared.targets[rng.next_u64() as usize % shared.targets.len()];
    match kind {
        Kind::Index => {
            let url = format!("{}/index/{}", shared.url, target.index_path);
            let reply = shared.client.get(&url).send().await?;
            ensure!(reply.status().is_success(), "GET {url}: {}", reply.status());
            let body = reply.bytes().await?;
            let text = std::str::from_utf8(&body).context("index is not UTF-8")?;
            let entries = zoo_format::index::parse_document(text)
                .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
            ensure!(!entries.is_empty(), "GET {url}: an empty index");
            Ok(body.len() as u64)
        }
        Kind::Blob => {
            let (sha, size) = &target.blobs[rng.next_u64() as usize % target.blobs.len()];
            let url = format!("{}/blobs/{sha}", shared.url);
            let reply = shared.client.get(&url).send().await?;
            ensure!(reply.status().is_success(), "GET {url}: {}", reply.status());
            let body = reply.bytes().await?;
            ensure!(
                body.len() as u64 == *size,
                "GET {url}: {} bytes",
                body.len()
            );
            ensure!(sha256(&body) == *sha, "GET {url}: wrong content");
            Ok(body.len() as u64)
        }
        Kind::Publish => bail!("publishes are not reads"),
    }
}

/// One client connection's loop until the deadline.
async fn client_loop(shared: Arc<Shared>, conn: usize) -> Vec<(Kind, KindStats, Vec<String>)> {
    let mut rng = Rng::new(0x5eed ^ (conn as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut stats: Vec<(Kind, KindStats, Vec<String>)> = Kind::ALL
        .into_iter()
        .map(|k| (k, KindStats::default(), Vec::new()))
        .collect();
    let mut published = 0u64;
    while Instant::now() < shared.deadline {
        let roll = rng.next_u64() % 1000;
        let kind = if roll < shared.options.publish_per_mille {
            Kind::Publish
        } else if roll < shared.options.publish_per_mille + shared.options.blob_per_mille {
            Kind::Blob
        } else {
            Kind::Index
        };
        let (result, took) = if kind == Kind::Publish {
            // Packing is client work: only the upload is timed.
            let (name, version) = (format!("load-{conn}"), format!("1.0.{published}"));
            published += 1;
            let notes = noise(16 << 10, published ^ ((conn as u64) << 32));
            let archive = tokio::task::spawn_blocking(move || {
                packed_package(&name, &version, &[("notes.bin", &notes)])
            })
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r);
            let start = Instant::now();
            let result = match archive {
                Ok(archive) => put(&shared, "/api/v1/packages/new", archive)
                    .await
                    .and_then(|status| {
                        ensure!(status.as_u16() == 201, "publish: {status}");
                        Ok(0)
                    }),
                Err(e) => Err(e),
            };
            (result, start.elapsed())
        } else {
            let start = Instant::now();
            let result = read(&shared, kind, &mut rng).await;
            (result, start.elapsed())
        };
        let slot = stats
            .iter_mut()
            .find(|(k, _, _)| *k == kind)
            .expect("every kind has a slot");
        match result {
            Ok(bytes) => {
                slot.1.latencies.push(took);
                slot.1.bytes += bytes;
            }
            Err(e) => {
                slot.1.errors += 1;
                if slot.2.len() < 3 {
                    slot.2.push(format!("{e:#}"));
                }
            }
        }
    }
    stats
}

/// Starts a registry, seeds it, runs the load, checks it with fsck.
pub fn run(options: LoadOptions) -> Result<LoadReport> {
    let registry = Registry::start();
    let token = registry.add_user("loader");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .timeout(Duration::from_secs(120))
        .build()?;
    let mut shared = Shared {
        url: registry.url.clone(),
        auth: format!("Bearer {token}"),
        client,
        targets: Vec::new(),
        deadline: Instant::now(),
        options: options.clone(),
    };
    runtime.block_on(seed(&mut shared))?;
    let (rss_before_kib, _) = rss_kib(registry.pid());
    shared.deadline = Instant::now() + options.duration;
    let shared = Arc::new(shared);
    let start = Instant::now();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..options.connections)
            .map(|conn| tokio::spawn(client_loop(shared.clone(), conn)))
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.push(task.await);
        }
        all
    });
    let elapsed = start.elapsed();
    let (rss_after_kib, rss_peak_kib) = rss_kib(registry.pid());

    let mut stats: Vec<(Kind, KindStats)> = Kind::ALL
        .into_iter()
        .map(|k| (k, KindStats::default()))
        .collect();
    let mut error_samples = Vec::new();
    for result in results {
        for (kind, part, samples) in result.context("a client task panicked")? {
            let total = &mut stats
                .iter_mut()
                .find(|(k, _)| *k == kind)
                .expect("every kind has a slot")
                .1;
            total.latencies.extend(part.latencies);
            total.errors += part.errors;
            total.bytes += part.bytes;
            if error_samples.len() < 10 {
                error_samples.extend(samples);
            }
        }
    }
    let fsck = std::process::Command::new(crate::binary("zoo-registry"))
        .args(["fsck", "--json", "--data"])
        .arg(registry.data.path())
        .output()
        .context("running zoo-registry fsck")?;
    let fsck: serde_json::Value =
        serde_json::from_slice(&fsck.stdout).context("fsck printed no JSON")?;
    let fsck_problems = fsck["problems"].as_array().map_or(usize::MAX, Vec::len);
    Ok(LoadReport {
        options,
        elapsed,
        stats,
        error_samples,
        rss_before_kib,
        rss_after_kib,
        rss_peak_kib,
        fsck_problems,
    })
}
